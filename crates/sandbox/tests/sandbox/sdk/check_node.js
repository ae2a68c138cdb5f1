// Drives the caisse sandbox with Stripe's official Node SDK, unchanged, and receives its webhooks
// with the SDK's own constructEvent: where Node differs from Python (its form encoding of nested
// arrays and expand[], its auto-pagination, its error classes, its webhook helper).
// Prints one JSON summary line for the Rust test.
//
// usage: node check_node.js API_BASE API_KEY WEBHOOK_SECRET RECEIVER_PORT
const http = require('http');
const Stripe = require('stripe');

const [apiBase, apiKey, webhookSecret, port] = process.argv.slice(2);
const base = new URL(apiBase);
const stripe = new Stripe(apiKey, {
  host: base.hostname, port: Number(base.port), protocol: 'http', maxNetworkRetries: 0,
});

const received = [];
const rejected = [];
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      const event = stripe.webhooks.constructEvent(Buffer.concat(chunks), req.headers['stripe-signature'], webhookSecret);
      received.push(event.type);
      res.writeHead(200);
    } catch (e) {
      rejected.push(String(e.message));
      res.writeHead(400);
    }
    res.end();
  });
});

async function refused(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return { type: e.type, code: e.code || null, param: e.param || null, status: e.statusCode };
  }
}

async function main() {
  await new Promise((ok) => server.listen(Number(port), '127.0.0.1', ok));
  const summary = { sdk_version: Stripe.PACKAGE_VERSION || null };
  const params = {
    mode: 'payment',
    success_url: 'https://shop.test/ok',
    line_items: [
      { price_data: { currency: 'eur', unit_amount: 1250, product_data: { name: 'Mug', metadata: { sku: 'm1' } } }, quantity: 2 },
      { price_data: { currency: 'eur', unit_amount: 500, product_data: { name: 'Card' } }, quantity: 1 },
    ],
    metadata: { hold_id: 'hold_node' },
    payment_intent_data: { metadata: { hold_id: 'hold_node' } },
    payment_method_types: ['card'],
  };
  const session = await stripe.checkout.sessions.create({ ...params, expand: ['line_items'] }, { idempotencyKey: 'node-1' });
  summary.created = {
    amount_total: session.amount_total, lines: session.line_items.data.map((l) => l.quantity),
    version: session.lastResponse.headers['stripe-version'],
  };
  summary.unknown = await refused(() => stripe.checkout.sessions.create({ ...params, line_items: [{ price_data: params.line_items[0].price_data, quantity: 1, qty: 2 }] }));
  summary.not_emulated = await refused(() => stripe.checkout.sessions.create({ ...params, payment_intent_data: { setup_future_usage: 'off_session' } }));

  const pay = await fetch(`${apiBase}/_sandbox/checkout/sessions/${session.id}/pay`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ card: '4242424242424242' }),
  });
  summary.pay = (await pay.json()).outcome;
  const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent.latest_charge'] });
  summary.paid = {
    status: paid.status, charge: paid.payment_intent.latest_charge.object,
    charge_status: paid.payment_intent.latest_charge.status,
  };
  const listed = await stripe.checkout.sessions.list({ payment_intent: paid.payment_intent.id, expand: ['data.line_items'] });
  summary.listed_lines = listed.data[0].line_items.data.length;
  const charges = await stripe.charges.list({ payment_intent: paid.payment_intent.id });
  summary.charges = charges.data.length;
  const events = await stripe.events.list({ limit: 2 }).autoPagingToArray({ limit: 100 });
  summary.events = events.map((e) => e.type);

  const deadline = Date.now() + 10000;
  while (received.length < events.length && Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, 50));
  }
  summary.received = [...received].sort();
  summary.rejected = rejected;
  console.log(JSON.stringify(summary));
  server.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
