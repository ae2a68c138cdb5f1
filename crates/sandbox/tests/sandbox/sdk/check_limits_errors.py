"""Drives the caisse sandbox with Stripe's official Python SDK, unchanged, through the methods on
its catalog and sessions (list and retrieve prices and products, update a session's metadata),
payment errors as Stripe gives them (last_payment_error), 3-D Secure on the hosted page and the
control API, and Stripe's limits (100 line items, three-decimal currencies, the test-mode rate
limit of the sandbox at RATE_LIMITED_API_BASE). Prints one JSON summary line for the Rust test.

usage: check_limits_errors.py API_BASE API_KEY WEBHOOK_SECRET RECEIVER_PORT
"""
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import stripe

import sandbox_sdk

api_base, _, port = sandbox_sdk.configure()
# Takes the sandbox's webhooks (another test checks them).
sandbox_sdk.receive(port, lambda payload, signature: 200)

summary = {}


def refused(call):
    """What Stripe's SDK raises for a refused request."""
    try:
        call()
        return None
    except stripe.StripeError as e:
        return {"class": type(e).__name__, "code": e.code, "param": getattr(e, "param", None),
                "http_status": e.http_status, "type": e.error.type if e.error else None,
                "error_code": e.error.code if e.error else None,
                "message": e.user_message}


def control(path, body):
    return sandbox_sdk.control(api_base, path, body)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


browser = urllib.request.build_opener(NoRedirect)


def page(path, form=None):
    """A browser on the hosted page: GET, or POST a form; the status, Location and body."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        r = browser.open(f"{api_base}{path}", data=data)
        return r.status, None, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location"), e.read().decode()


def ids(listed):
    return [o.id for o in listed.data]


def session(**extra):
    args = dict(mode="payment", success_url="https://shop.test/ok",
                line_items=[{"price_data": {"currency": "eur", "unit_amount": 2000,
                                            "product_data": {"name": "Tee"}}, "quantity": 1}])
    args.update(extra)
    return stripe.checkout.Session.create(**args)


# 3. Products and prices, listed with Stripe's filters and retrieved.
mug = stripe.Product.create(name="Mug", metadata={"sku": "m1"})
old = stripe.Product.create(name="Old mug", active=False)
cap = stripe.Product.create(name="Cap")
std = stripe.Price.create(product=mug.id, unit_amount=1200, currency="eur", lookup_key="mug_std")
usd = stripe.Price.create(product=mug.id, unit_amount=1500, currency="usd", active=False)
kwd = stripe.Price.create(product=cap.id, unit_amount=5120, currency="kwd")
first_page = stripe.Product.list(limit=2)
summary["products"] = {
    "ids": [cap.id, old.id, mug.id],
    "retrieved": [stripe.Product.retrieve(mug.id).name, stripe.Product.retrieve(mug.id).metadata["sku"]],
    "inactive": ids(stripe.Product.list(active=False)),
    "active": ids(stripe.Product.list(active=True)),
    "by_ids": ids(stripe.Product.list(ids=[mug.id, cap.id])),
    "first_page": [ids(first_page), first_page.has_more],
    "after": ids(stripe.Product.list(starting_after=old.id)),
    "before": ids(stripe.Product.list(ending_before=mug.id)),
    "every": [p.id for p in stripe.Product.list(limit=1).auto_paging_iter()],
    "future": ids(stripe.Product.list(created={"gt": mug.created + 3600})),
    "missing": refused(lambda: stripe.Product.retrieve("prod_missing")),
    "shippable": refused(lambda: stripe.Product.list(shippable=True)),
}
summary["prices"] = {
    "ids": [kwd.id, usd.id, std.id],
    "of_mug": ids(stripe.Price.list(product=mug.id)),
    "active_of_mug": ids(stripe.Price.list(product=mug.id, active=True)),
    "kwd": ids(stripe.Price.list(currency="KWD")),
    "lookup": ids(stripe.Price.list(lookup_keys=["mug_std", "nothing"])),
    "one_time": ids(stripe.Price.list(type="one_time", limit=3)),
    "recurring": ids(stripe.Price.list(type="recurring")),
    "expanded": [p.product.name for p in stripe.Price.list(product=mug.id, expand=["data.product"]).data],
    "retrieved": stripe.Price.retrieve(std.id, expand=["product"]).product.name,
    "page": [ids(stripe.Price.list(limit=1, starting_after=kwd.id)), stripe.Price.list(limit=1).has_more],
    "by_interval": refused(lambda: stripe.Price.list(recurring={"interval": "month"})),
    "bad_type": refused(lambda: stripe.Price.list(type="weekly")),
    "bad_expand": refused(lambda: stripe.Price.list(expand=["data.tiers"])),
}

# 3. A session's metadata updated (a key sent empty is removed), in any status; nothing else.
tagged = session(metadata={"hold_id": "h1", "note": "gift"})
updated = stripe.checkout.Session.modify(tagged.id, metadata={"note": "", "order": "7"})
expired = stripe.checkout.Session.expire(session().id)
summary["session_update"] = {
    "answer": updated.metadata.to_dict(),
    "retrieved": stripe.checkout.Session.retrieve(tagged.id).metadata.to_dict(),
    "expired": stripe.checkout.Session.modify(expired.id, metadata={"k": "v"}).metadata.to_dict(),
    "shipping_options": refused(lambda: stripe.checkout.Session.modify(
        tagged.id, shipping_options=[{"shipping_rate": "shr_1"}])),
    "unknown": refused(lambda: stripe.checkout.Session.modify(tagged.id, success_url="https://x.test")),
    "missing": refused(lambda: stripe.checkout.Session.modify("cs_test_missing", metadata={"a": "b"})),
}


# 4. Payment errors as Stripe gives them: the failed charge, the PaymentMethod in full, doc_url,
# the decline_code of Stripe's test-card table.
def error_of(card):
    """The PaymentIntent, its error (and as a dict), and the decline_code the control call gave."""
    s = session(customer_email="ann@example.com")
    outcome = control(f"checkout/sessions/{s.id}/pay", {"card": card})
    pi = stripe.PaymentIntent.retrieve(outcome["payment_intent"])
    e = pi.last_payment_error
    return pi, e, e.to_dict(), outcome["decline_code"]


pi, e, raw, _ = error_of("4000000000000002")
summary["declined"] = {
    "type": e.type, "code": e.code, "decline_code": e.decline_code, "doc_url": e.doc_url,
    "message": e.message, "charge_is_latest": e.charge == pi.latest_charge,
    "charge_status": stripe.Charge.retrieve(e.charge).status,
    # Off the PaymentIntent once the attempt failed, as at Stripe; the charge keeps it.
    "pm": [pi.payment_method, stripe.Charge.retrieve(e.charge).payment_method == e.payment_method.id,
           e.payment_method.object, e.payment_method.type,
           e.payment_method.card.brand, e.payment_method.card.last4, e.payment_method.card.funding,
           e.payment_method.billing_details.email],
    "pm_keys": sorted(e.payment_method.to_dict().keys()),
    "keys": sorted(raw.keys()),
}
_, again, _, _ = error_of("4000 0000 0000 0002")
summary["same_card_same_fingerprint"] = again.payment_method.card.fingerprint == e.payment_method.card.fingerprint
_, funds, _, _ = error_of("4000000000009995")
summary["insufficient_funds"] = [funds.code, funds.decline_code]
for card, name in [("4000000000000069", "expired_card"), ("4000000000000119", "processing_error")]:
    _, error, _, answered = error_of(card)
    summary[name] = [error.code, error.doc_url, error.decline_code, answered,
                     stripe.Charge.retrieve(error.charge).failure_code]

secure = session()
control(f"checkout/sessions/{secure.id}/pay", {"card": "4000002760003184"})
control(f"checkout/sessions/{secure.id}/authenticate", {"complete": False})
failed = stripe.PaymentIntent.retrieve(stripe.checkout.Session.retrieve(secure.id).payment_intent)
f = failed.last_payment_error
summary["authentication_failed"] = [f.type, f.code, "charge" in f.to_dict(), f.payment_method.card.country,
                                    f.doc_url]

sepa = session()
control(f"checkout/sessions/{sepa.id}/pay", {"iban": "DE62370400440532013001"})
control("clock/advance", {"seconds": 60})
debit = stripe.PaymentIntent.retrieve(stripe.checkout.Session.retrieve(sepa.id).payment_intent)
d = debit.last_payment_error
summary["sepa_failed"] = [debit.status, d.payment_method.type, d.payment_method.sepa_debit.last4,
                          d.charge == debit.latest_charge]

# 6. 3-D Secure on the hosted page: the challenge, and the session's PaymentIntent requires_action
# until it is completed or failed.
hosted = session()
status, location, _ = page(f"/c/pay/{hosted.id}", {"card": "4000 0027 6000 3184", "email": "bo@example.com"})
waiting = stripe.checkout.Session.retrieve(hosted.id, expand=["payment_intent"])
_, _, challenge = page(location.replace(api_base, "")) if location else (None, None, "")
_, _, back = page(f"/c/pay/{hosted.id}")
failed_status, _, failed_page = page(f"/c/pay/{hosted.id}/authenticate", {"action": "fail"})
after_fail = stripe.PaymentIntent.retrieve(waiting.payment_intent.id)
page(f"/c/pay/{hosted.id}", {"card": "4000 0027 6000 3184", "email": "bo@example.com"})
again = stripe.PaymentIntent.retrieve(waiting.payment_intent.id)
done_status, done_location, _ = page(f"/c/pay/{hosted.id}/authenticate", {"action": "complete"})
done = stripe.checkout.Session.retrieve(hosted.id, expand=["payment_intent"])
summary["hosted_3ds"] = {
    "submitted": [status, (location or "").endswith(f"/c/pay/{hosted.id}/authenticate")],
    "waiting": [waiting.status, waiting.payment_intent.status, waiting.payment_intent.next_action.type,
                waiting.payment_intent.next_action.redirect_to_url.url == location],
    "challenge": ["Complete authentication" in challenge, "Complete authentication" in back],
    "failed": [failed_status, "failed authentication" in failed_page, after_fail.status,
               after_fail.last_payment_error.code],
    "again": again.status,
    "done": [done_status, done_location, done.status, done.payment_status, done.payment_intent.status,
             done.payment_intent.id == waiting.payment_intent.id,
             done.payment_intent.payment_method.startswith("pm_")],
}
driven = session()
outcome = control(f"checkout/sessions/{driven.id}/pay", {"card": "4000002760003184"})
held = stripe.checkout.Session.retrieve(driven.id)
summary["control_3ds"] = {
    "outcome": outcome["outcome"],
    "on_session": held.payment_intent == outcome["payment_intent"],
    "status": stripe.PaymentIntent.retrieve(held.payment_intent).status,
    "completed": control(f"checkout/sessions/{driven.id}/authenticate", {"complete": True})["outcome"],
    "after": stripe.PaymentIntent.retrieve(held.payment_intent).status,
}

# 7. Limits: 100 line items in payment mode; three-decimal currencies in multiples of 10.
line = {"price": std.id, "quantity": 1}
of_old = stripe.Price.create(product=old.id, unit_amount=900, currency="eur")
summary["line_items"] = {
    "hundred": session(line_items=[line] * 100).amount_total,
    "too_many": refused(lambda: session(line_items=[line] * 101)),
    "inactive_price": refused(lambda: session(line_items=[line, {"price": usd.id, "quantity": 1}])),
    "inactive_product": refused(lambda: session(line_items=[{"price": of_old.id, "quantity": 1}])),
}


def priced(currency, amount):
    return session(line_items=[{"price_data": {"currency": currency, "unit_amount": amount,
                                               "product_data": {"name": "Dates"}}, "quantity": 2}])


summary["three_decimal"] = {
    c: [priced(c, 5120).amount_total, refused(lambda: priced(c, 5125))]
    for c in ["bhd", "jod", "kwd", "omr", "tnd"]
}
summary["three_decimal_price"] = refused(lambda: stripe.Price.create(product=cap.id, currency="kwd",
                                                                     unit_amount=1001))
summary["two_decimal_odd"] = priced("eur", 5125).amount_total
summary["kwd_shipping"] = refused(lambda: session(
    line_items=[{"price": kwd.id, "quantity": 1}],
    shipping_options=[{"shipping_rate_data": {"type": "fixed_amount", "display_name": "Post",
                                               "fixed_amount": {"amount": 1005, "currency": "kwd"}}}]))


# 7. The opt-in rate limit: 25 reads and 25 writes a second in test mode, then 429 rate_limit.
def burst(call, n=40):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: refused(call), range(n)))
    return [r for r in results if r is None], [r for r in results if r is not None]


ok, unlimited = burst(lambda: stripe.Product.list(limit=1))
summary["unlimited"] = [len(ok), unlimited]
stripe.api_base = os.environ["RATE_LIMITED_API_BASE"]
started = time.monotonic()
ok, limited = burst(lambda: stripe.Product.list(limit=1))
burst_seconds = time.monotonic() - started
write = refused(lambda: stripe.Product.create(name="Written while reads are limited"))
time.sleep(1.1)
summary["rate_limit"] = {
    "ok": len(ok), "within_a_second": burst_seconds < 1,
    "limited": len(limited), "first": limited[0] if limited else None,
    "write_meanwhile": write,
    "read_after_a_second": refused(lambda: stripe.Product.list(limit=1)),
}
ok, limited = burst(lambda: stripe.Product.create(name="Burst"), n=30)
summary["rate_limit"]["writes"] = [len(ok), len(limited)]

print(json.dumps(summary))
