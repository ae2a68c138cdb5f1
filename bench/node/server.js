// The seed's webhook stack, the baseline caisse-bench measures caisse against (issue 23): a plain
// `node:http` route handler in one process, as the shop wrote its `/api/webhooks/stripe` route
// before caisse, that checks the `Stripe-Signature` with stripe-node's `constructEvent` on the raw
// body and applies a `payment_intent.succeeded` to the hold it pays in one better-sqlite3
// transaction, on caisse's own schema and with caisse's durability (WAL, synchronous=FULL).
//
//   PORT=8787 DATABASE_PATH=caisse.db STRIPE_WEBHOOK_SECRET=whsec_… node server.js
//
// The database is one `caisse migrate` made; caisse-bench seeds its holds. `GET /healthz` says
// the server is up. Anything but a paying `payment_intent.succeeded` is recorded and ignored:
// the baseline is the one path the benchmark drives, not a second caisse.
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');
const Database = require('better-sqlite3');
const Stripe = require('stripe');

const port = Number(process.env.PORT);
const secret = process.env.STRIPE_WEBHOOK_SECRET;
if (!port || !process.env.DATABASE_PATH || !secret) {
  console.error('PORT, DATABASE_PATH and STRIPE_WEBHOOK_SECRET are required');
  process.exit(2);
}
const stripe = new Stripe(process.env.STRIPE_SECRET_KEY || 'sk_test_unused');

// caisse's connection settings (crates/shop/src/store/mod.rs).
const db = new Database(process.env.DATABASE_PATH, { timeout: 30000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');

// Prepared once; column lists as caisse's store writes them (crates/shop/src/store/).
const sql = {
  recordEvent: db.prepare(
    `INSERT INTO webhook_events (stripe_event_id, type, livemode, api_version, stripe_created,
                                 payload, status, attempts, received_at, source)
     VALUES (?, ?, ?, ?, ?, ?, 'received', 1, ?, 'webhook')
     ON CONFLICT (stripe_event_id) DO NOTHING`,
  ),
  eventStatus: db.prepare('SELECT status FROM webhook_events WHERE stripe_event_id = ?').pluck(),
  hold: db.prepare(
    `SELECT id, customer_id, client_ip, email, status, amount_total, currency, expires_at,
            checkout_session_id, checkout_url, payment_intent_id, idempotency_key, release_reason,
            created_at, updated_at, released_at, next_check_at, checks, intent_tag, shipping_offer
     FROM holds WHERE id = ?`,
  ),
  convertHold: db.prepare(
    `UPDATE holds SET status = 'converted', updated_at = ?,
                      checkout_session_id = COALESCE(checkout_session_id, ?),
                      payment_intent_id = COALESCE(payment_intent_id, ?),
                      email = COALESCE(email, ?)
     WHERE id = ? AND status IN ('active', 'awaiting_payment')`,
  ),
  holdItems: db.prepare(
    'SELECT product_id, quantity, unit_amount FROM hold_items WHERE hold_id = ? ORDER BY product_id',
  ),
  insertOrder: db.prepare(
    `INSERT INTO orders (id, hold_id, customer_id, email, status, attention_reason,
                         amount_total, currency, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ),
  insertLine: db.prepare(
    'INSERT INTO order_items (order_id, product_id, quantity, unit_amount) VALUES (?, ?, ?, ?)',
  ),
  insertPayment: db.prepare(
    `INSERT INTO payments (id, order_id, payment_intent_id, checkout_session_id, amount, currency,
                           status, created_at)
     VALUES (?, ?, ?, ?, ?, ?, 'succeeded', ?)`,
  ),
  enqueue: db.prepare(
    `INSERT INTO outbox (kind, dedup_key, payload, status, next_attempt_at, created_at)
     VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (dedup_key) DO NOTHING`,
  ),
  audit: db.prepare(
    `INSERT INTO audit_log (at, actor, action, entity_type, entity_id, before, after, message)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ),
  sellReserved: db.prepare(
    `UPDATE products SET stock_on_hand = stock_on_hand - ?, stock_reserved = stock_reserved - ?,
                         updated_at = ? WHERE id = ?`,
  ),
  finishEvent: db.prepare(
    `UPDATE webhook_events SET status = ?, reason = ?, processed_at = ?
     WHERE stripe_event_id = ?`,
  ),
};

const formats = new Map();
function formatAmount(minor, currency) {
  const code = currency.toUpperCase();
  if (!formats.has(code)) {
    formats.set(code, new Intl.NumberFormat('fr-FR', { style: 'currency', currency: code }));
  }
  const format = formats.get(code);
  return format.format(minor / 10 ** format.resolvedOptions().maximumFractionDigits);
}

// The hold the PaymentIntent pays becomes an order with its lines, payment, confirmation email,
// audit line and sold stock. Answers the event's final status, and why when it is ignored.
function payHold(event, now) {
  const pi = event.data.object;
  const hold = pi.metadata && pi.metadata.hold_id ? sql.hold.get(pi.metadata.hold_id) : undefined;
  if (!hold || hold.payment_intent_id !== pi.id) {
    return { status: 'ignored', reason: `no hold has PaymentIntent ${pi.id}` };
  }
  const email = hold.email || pi.receipt_email || null;
  if (sql.convertHold.run(now, null, pi.id, email, hold.id).changes !== 1) {
    return { status: 'ignored', reason: `hold ${hold.id} is ${hold.status}` };
  }
  const items = sql.holdItems.all(hold.id);
  const amount = pi.amount_received ?? pi.amount;
  const matches = amount === hold.amount_total && pi.currency === hold.currency;
  const status = matches ? 'paid' : 'needs_attention';
  const orderId = `ord_${crypto.randomUUID().replaceAll('-', '')}`;
  const number = sql.insertOrder.run(
    orderId, hold.id, hold.customer_id, email, status, matches ? null : 'amount_mismatch',
    hold.amount_total, hold.currency, now, now,
  ).lastInsertRowid;
  for (const item of items) {
    sql.insertLine.run(orderId, item.product_id, item.quantity, item.unit_amount);
  }
  sql.insertPayment.run(
    `pay_${crypto.randomUUID().replaceAll('-', '')}`, orderId, pi.id, hold.checkout_session_id,
    amount, pi.currency, now,
  );
  sql.enqueue.run(
    'order_confirmation', `order_confirmation:${orderId}`, JSON.stringify({ order_id: orderId }),
    now, now,
  );
  sql.audit.run(
    now, `webhook:${event.id}`, 'order.created', 'order', orderId,
    JSON.stringify({ hold: hold.id, hold_status: hold.status }),
    JSON.stringify({
      number: Number(number), status, attention_reason: matches ? null : 'amount_mismatch',
      payment_intent: pi.id, amount, currency: pi.currency,
    }),
    `Order #${number} created after Stripe payment ${pi.id} (${formatAmount(amount, pi.currency)})`,
  );
  for (const item of items) {
    sql.sellReserved.run(item.quantity, item.quantity, now, item.product_id);
  }
  return { status: 'processed', reason: null };
}

// One transaction per event (BEGIN IMMEDIATE): the event recorded under its unique id, its
// effect, its final status. False for an event already processed or ignored.
const receive = db.transaction((event, payload, now) => {
  const recorded = sql.recordEvent.run(
    event.id, event.type, event.livemode ? 1 : 0, event.api_version ?? null, event.created,
    payload, now,
  );
  if (recorded.changes === 0 && ['processed', 'ignored'].includes(sql.eventStatus.get(event.id))) {
    return false;
  }
  const done =
    event.type === 'payment_intent.succeeded'
      ? payHold(event, now)
      : { status: 'ignored', reason: `not acted on: ${event.type}` };
  sql.finishEvent.run(done.status, done.reason, now, event.id);
  return true;
});

function reply(res, status, body) {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    return reply(res, 200, { status: 'ok' });
  }
  if (req.method !== 'POST' || req.url !== '/api/webhooks/stripe') {
    return reply(res, 404, { error: { type: 'invalid_request_error', message: 'Not found' } });
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    let event;
    try {
      event = stripe.webhooks.constructEvent(raw, req.headers['stripe-signature'], secret);
    } catch (err) {
      return reply(res, 400, {
        error: { type: 'invalid_request_error', code: 'signature_invalid', message: err.message },
      });
    }
    try {
      receive.immediate(event, raw.toString('utf8'), Math.floor(Date.now() / 1000));
    } catch (err) {
      console.error(`event ${event.id}: ${err.message}`);
      return reply(res, 500, { error: { type: 'api_error', message: 'the event was not applied' } });
    }
    reply(res, 200, { received: true });
  });
});
server.listen(port, '127.0.0.1');
