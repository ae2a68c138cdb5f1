// caisse demo storefront: plain ES2020, no framework, no build step. It doubles as the reference
// for shops writing their own. Server data goes into the page as text (textContent), never as HTML.
'use strict';

const CART_KEY = 'caisse.cart'; // localStorage: { product_id: quantity }
const SESSION_KEY = 'caisse.checkout_session_id'; // sessionStorage: the checkout being paid
const POLL_EVERY_MS = 1000, POLL_FOR_MS = 120_000; // the success page asks every second for 2 minutes
const FAILURE_GRACE_MS = 20_000; // how long the success page doubts a "failed" or "expired" status

const $ = (id) => document.getElementById(id);
let products = null; // Map id → product, once /api/products has answered
let cart = loadCart(); // Map id → quantity
let attempt = null; // { body, key } of the checkout being tried, to retry it with the same key
let checkingOut = false;

// Builds an element: `text` sets its textContent, other keys are attributes (false/null: left out).
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'text') node.textContent = value;
    else if (value !== false && value != null) node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}

// Amounts are integer minor units; the currency says how many make a major unit (EUR 2, JPY 0).
function money(amount, currency) {
  const format = (locale) => new Intl.NumberFormat(locale, { style: 'currency', currency });
  return format(undefined).format(amount / 10 ** format('en').resolvedOptions().maximumFractionDigits);
}

// Storage can be disabled or full (private browsing): the shop then works without it.
function quietly(fn, fallback = null) { try { return fn(); } catch { return fallback; } }
function loadCart() {
  return new Map(quietly(() => Object.entries(JSON.parse(localStorage.getItem(CART_KEY) || '{}')), [])
    .filter(([, qty]) => Number.isInteger(qty) && qty > 0));
}
const saveCart = () => quietly(() => localStorage.setItem(CART_KEY, JSON.stringify(Object.fromEntries(cart))));
// session('getItem'), session('setItem', id), session('removeItem'): the checkout being paid.
const session = (op, ...value) => quietly(() => sessionStorage[op](SESSION_KEY, ...value));
// crypto.randomUUID exists only in secure contexts (https, localhost): a v4 UUID by hand otherwise.
const uuid = () => crypto.randomUUID?.() ?? '10000000-1000-4000-8000-100000000000'.replace(/[018]/g,
  (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));

// Errors are {"error":{"code","message",…}}. Anything else (no connection, a proxy's HTML page)
// becomes the same kind of Error, so callers handle one kind of failure. Status 0: no answer.
const apiError = (status, code, message, retryAfter) => Object.assign(new Error(message), { status, code, retryAfter });
async function api(path, options = {}) {
  // The guest identity is an HttpOnly cookie: same-origin credentials (fetch's default) carry it.
  const res = await fetch(path, { credentials: 'same-origin', ...options }).catch(() => {
    throw apiError(0, 'network', 'The shop could not be reached; check your connection and try again.');
  });
  const body = await res.json().catch(() => null);
  if (res.ok && body) return body;
  const e = body?.error ?? {};
  throw apiError(res.status, e.code ?? 'unexpected', e.message ?? `The shop answered with an error (${res.status}).`,
    res.headers.get('Retry-After'));
}

function say(text, kind = 'info') {
  $('message').textContent = text;
  $('message').classList.toggle('message--error', kind === 'error');
}

function renderProducts() {
  if (!products) return; // still loading, or failed (loadProducts said so)
  if (products.size === 0) return $('products').replaceChildren(h('p', { text: 'Nothing for sale right now.' }));
  $('products').replaceChildren(...[...products.values()].map((p, i) => {
    const soldOut = p.available <= 0;
    // Only held by other customers' checkouts: it comes back if they do not pay.
    const minutes = Math.max(1, Math.ceil(((p.held_until ?? 0) - Date.now() / 1000) / 60));
    const stock = !soldOut ? `${p.available} available`
      : p.held > 0 ? `Held in other customers' checkouts — back within ${minutes} min if they do not pay`
      : 'Sold out';
    return h('article', { class: 'product', 'data-testid': `product-${p.id}` },
      h('h3', { id: `product-${i}`, text: p.name }),
      h('p', { class: 'description', text: p.description ?? '' }),
      h('p', { class: 'price', text: money(p.unit_amount, p.currency) }),
      h('p', { class: soldOut ? 'stock sold-out' : 'stock', 'data-testid': `stock-${p.id}`, text: stock }),
      h('button', { type: 'button', 'data-action': 'add', 'data-id': p.id, 'data-testid': `add-${p.id}`,
        'aria-describedby': `product-${i}`, disabled: soldOut || (cart.get(p.id) ?? 0) >= p.available }, 'Add to cart'));
  }));
}

function renderCart() {
  const totals = new Map(); // currency → minor units
  const lines = [];
  for (const [id, qty] of cart) {
    const p = products?.get(id);
    if (!p) continue;
    totals.set(p.currency, (totals.get(p.currency) ?? 0) + p.unit_amount * qty);
    const button = (action, text, label, disabled = false) => h('button', { type: 'button', 'data-action': action,
      'data-id': id, 'data-testid': `${action}-${id}`, 'aria-label': label, disabled, text });
    lines.push(h('li', { class: 'cart-line', 'data-testid': `cart-line-${id}` },
      h('span', { class: 'line-name', text: p.name }),
      h('span', { class: 'line-amount', text: money(p.unit_amount * qty, p.currency) }),
      h('span', { class: 'qty' }, button('dec', '−', `One less ${p.name}`),
        h('span', { 'data-testid': `qty-${id}`, text: String(qty) }),
        button('inc', '+', `One more ${p.name}`, qty >= p.available)),
      button('remove', 'Remove', `Remove ${p.name}`)));
  }
  // A cart mixing currencies shows one total each; the server refuses it with its own message.
  const label = (cur) => (totals.size > 1 ? `Total (${cur.toUpperCase()})` : 'Total');
  $('cart-lines').replaceChildren(...lines);
  $('cart-total').replaceChildren(...[...totals].map(([cur, n]) => h('p', { text: `${label(cur)}: ${money(n, cur)}` })));
  $('cart-count').textContent = String([...cart.values()].reduce((a, b) => a + b, 0));
  $('cart-empty').hidden = cart.size > 0;
  $('checkout').disabled = !products || cart.size === 0 || checkingOut;
}

function render() {
  // Re-rendering replaces the buttons: give the keyboard focus back to the one that had it.
  const focused = document.activeElement?.getAttribute('data-testid');
  renderProducts();
  renderCart();
  if (focused) document.querySelector(`[data-testid="${CSS.escape(focused)}"]`)?.focus();
}

async function loadProducts() {
  try {
    products = new Map((await api('/api/products')).products.map((p) => [p.id, p]));
    // Drop what the shop no longer sells, so that the cart never names an unknown product.
    for (const id of cart.keys()) if (!products.has(id)) cart.delete(id);
    saveCart();
  } catch (e) {
    $('products').replaceChildren(h('p', { text: 'The products could not be loaded; reload the page to try again.' }));
    say(e.message, 'error');
  }
  render();
}

async function checkout(event) {
  event.preventDefault();
  if (checkingOut || cart.size === 0) return;
  const email = $('email').value.trim();
  const items = [...cart].map(([product_id, quantity]) => ({ product_id, quantity }));
  const body = JSON.stringify({ items, ...(email && { email }) });
  // One key per attempt. Retrying the very same cart after no answer reuses it: the server then
  // answers with the first attempt's checkout instead of holding the stock twice.
  if (attempt?.body !== body) attempt = { body, key: uuid() };
  checkingOut = true;
  render();
  say('Preparing the payment page…');
  try {
    const created = await api('/api/checkout', { method: 'POST', body,
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': attempt.key } });
    attempt = null;
    session('setItem', created.checkout_session_id); // for the cancel page, whose URL names no session
    return window.location.assign(created.url); // the button stays disabled while the browser leaves
  } catch (e) {
    // Only "no answer" and "the first one is still running" call for the same attempt again.
    if (e.status !== 0 && e.code !== 'checkout_in_progress') attempt = null;
    const wait = Number(e.retryAfter);
    say(wait > 0 ? `${e.message} (try again in ${wait} s)` : e.message, 'error');
    if (['insufficient_stock', 'unknown_product', 'product_inactive'].includes(e.code)) loadProducts();
  }
  checkingOut = false;
  render();
}

// "Order #123 confirmed": the number sits in its own element, digits only.
function withOrder(before, { order_number: number }, after) {
  if (number == null) return [`${before}${after}`];
  return [`${before} #`, h('span', { 'data-testid': 'order-number', text: String(number) }), after];
}
// What a checkout's status means to the customer; null while it is pending.
function describe(s) {
  switch (s.status) {
    case 'paid': return withOrder('Order', s, ' confirmed. A confirmation email is on its way.');
    case 'needs_attention': return withOrder('Payment received for order', s, '; we are checking it and will contact you.');
    case 'refunded': return withOrder('Order', s, ' was refunded.');
    case 'failed': return ['The payment failed; nothing was charged. Your cart is still here.'];
    case 'expired': return ['This checkout expired; nothing was charged.'];
    default: return null;
  }
}

function showResult(parts, showShop) {
  $('order-status').hidden = false;
  $('order-result').replaceChildren(...parts);
  $('shop').hidden = !showShop;
}
// A final status. An order means the cart was bought: empty it; otherwise it stays to try again.
function finish(s, parts) {
  const ordered = s.order_number != null;
  // "Shipping: Colissimo — €4.90, to Ada Lovelace, 12 rue de la Paix, 75002 Paris, FR"
  if (ordered && s.shipping) {
    const { rate, amount, currency, address } = s.shipping;
    const cost = money(amount, currency.toUpperCase());
    const line = `Shipping: ${rate ? `${rate} — ` : ''}${cost}${address.length ? `, to ${address.join(', ')}` : ''}`;
    parts = [...parts, h('p', { 'data-testid': 'shipping-line', text: line })];
  }
  if (ordered) { session('removeItem'); cart.clear(); saveCart(); render(); }
  showResult(parts, !ordered);
}

// The success page: Stripe may redirect before its webhook has arrived, so ask until it has.
async function followOrder(sessionId) {
  const unknown = ['We could not find this checkout. If you paid, a confirmation email is on its way.'];
  if (!sessionId) return showResult(unknown, true);
  showResult(['Payment received, confirming your order…'], false);
  const started = Date.now();
  for (const deadline = started + POLL_FOR_MS; Date.now() < deadline;) {
    try {
      const s = await api(`/api/checkout/${encodeURIComponent(sessionId)}`);
      if (s.order_number != null) return finish(s, describe(s));
      // Stripe sends the customer here once the session is complete, so "failed" or "expired"
      // is news the payment's own webhook has not overtaken yet (a declined card before this
      // one released the hold): believe it only after a grace period.
      if (describe(s) && Date.now() - started > FAILURE_GRACE_MS) return finish(s, describe(s));
    } catch (e) { // anything but not_found (a blip, a restart) is asked again until the deadline
      if (e.code === 'not_found') return showResult(unknown, true);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
  }
  showResult(['This is taking longer than usual. If you paid, a confirmation email is on its way.'], false);
}

// The cancel page: give the stock back now rather than when the hold expires.
async function cancelCheckout() {
  const id = session('getItem');
  session('removeItem'); // done with, whatever the answer (but see the last lines)
  const cancelled = (more = '') => showResult([`Checkout cancelled; nothing was charged${more}.`], true);
  if (!id) return cancelled();
  showResult(['Cancelling your checkout…'], true);
  try {
    const s = await api(`/api/checkout/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
    // Not released (paid meanwhile): show what became of it, as the success page does.
    if (s.status !== 'expired' && s.status !== 'failed') return followOrder(id);
    cancelled(' and the items are back in stock');
    loadProducts(); // the first read may have come before the stock was back
  } catch (e) {
    if (e.code === 'not_found') return cancelled();
    if (e.code === 'already_paid' || e.code === 'checkout_closed') {
      say(e.code === 'already_paid' ? 'This checkout was already paid, so it could not be cancelled.' : e.message);
      return followOrder(id);
    }
    // The payment provider did not answer: keep the session id, so that a reload tries again.
    session('setItem', id);
    showResult([`${e.message.replace(/\.?$/, '.')} Reload this page to try again.`], true);
  }
}

// One listener for every cart button, present or future (the lists are re-rendered).
document.addEventListener('click', (event) => {
  const { action, id } = event.target.closest?.('button[data-action]')?.dataset ?? {};
  if (!action) return;
  const qty = cart.get(id) ?? 0;
  const next = { add: qty + 1, inc: qty + 1, dec: qty - 1, remove: 0 }[action];
  if (next > 0) cart.set(id, next); else cart.delete(id);
  saveCart();
  // An error about the previous cart no longer applies; an addition is confirmed in the message
  // bar, which stays at the top of the screen wherever the customer scrolled (on a phone the cart
  // is below every product).
  const count = [...cart.values()].reduce((a, b) => a + b, 0);
  say(action === 'add' ? `${products?.get(id)?.name ?? id} added: ${count} in your cart.` : '');
  render();
});
$('checkout-form').addEventListener('submit', checkout);
window.addEventListener('pageshow', (event) => { // back from the payment page, as it was left: mid-checkout
  if (event.persisted && checkingOut) { checkingOut = false; say(''); render(); }
});

const params = new URLSearchParams(window.location.search);
if (params.get('checkout') === 'success') followOrder(params.get('session_id') || session('getItem'));
else if (params.get('checkout') === 'cancelled') cancelCheckout();
api('/api/config') // the test-mode badge; the shop works without it
  .then((config) => { $('test-mode').hidden = config.livemode !== false; }, () => {});
loadProducts();
render();
