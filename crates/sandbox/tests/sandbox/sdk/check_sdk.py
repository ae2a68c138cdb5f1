"""Drives the caisse sandbox with Stripe's official Python SDK, unchanged, and receives its
webhooks with the SDK's own construct_event. Prints one JSON summary line for the Rust test.

usage: check_sdk.py API_BASE API_KEY WEBHOOK_SECRET RECEIVER_PORT
"""
import json
import time
import urllib.request

import stripe

import sandbox_sdk

api_base, webhook_secret, port = sandbox_sdk.configure()
received, rejected = [], []


def on_webhook(payload, signature):
    try:
        event = stripe.Webhook.construct_event(payload, signature, webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as e:
        rejected.append(str(e))
        return 400
    received.append({"id": event.id, "type": event.type, "object_id": event.data.object.id})
    return 200


sandbox_sdk.receive(port, on_webhook)

summary = {"sdk_version": stripe.VERSION}

# A session with price_data, retrieved back.
with_data = stripe.checkout.Session.create(
    mode="payment",
    success_url="https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
    cancel_url="https://shop.test/cancel",
    line_items=[{"price_data": {"currency": "eur", "unit_amount": 2500, "product_data": {"name": "Tee"}}, "quantity": 2}],
    metadata={"hold_id": "hold_sdk"},
    payment_intent_data={"metadata": {"hold_id": "hold_sdk"}},
    expires_at=int(time.time()) + 3600,
    idempotency_key="sdk-session-1",
)
again = stripe.checkout.Session.retrieve(with_data.id)
summary["price_data_session"] = {
    "id": with_data.id, "amount_total": again.amount_total, "status": again.status,
    "hold_id": again.metadata["hold_id"], "url": again.url,
}

# A session with a created Price.
product = stripe.Product.create(name="Poster")
price = stripe.Price.create(product=product.id, unit_amount=4800, currency="eur")
with_price = stripe.checkout.Session.create(
    mode="payment", success_url="https://shop.test/ok", line_items=[{"price": price.id, "quantity": 1}],
)
summary["price_session"] = {"amount_total": with_price.amount_total, "currency": with_price.currency}

# Another session, expired.
expired = stripe.checkout.Session.expire(with_price.id)
summary["expired_status"] = expired.status
summary["expired_id"] = expired.id

# An error for a bad request.
try:
    stripe.checkout.Session.create(mode="payment", success_url="https://shop.test/ok",
                                   line_items=[{"price": "price_missing", "quantity": 1}])
    summary["error"] = None
except stripe.InvalidRequestError as e:
    summary["error"] = {"code": e.code, "param": e.param, "http_status": e.http_status, "message": e.user_message}

# Pay the first session through the sandbox's control API, then read it back.
request = urllib.request.Request(
    f"{api_base}/_sandbox/checkout/sessions/{with_data.id}/pay",
    data=json.dumps({"card": "4242424242424242"}).encode(), headers={"Content-Type": "application/json"},
)
urllib.request.urlopen(request).read()
paid = stripe.checkout.Session.retrieve(with_data.id)
summary["paid"] = {"status": paid.status, "payment_status": paid.payment_status}
intent = stripe.PaymentIntent.retrieve(paid.payment_intent)
summary["payment_intent_id"] = intent.id
summary["payment_intent"] = {"status": intent.status, "amount": intent.amount, "hold_id": intent.metadata["hold_id"]}
summary["sessions_for_intent"] = [s.id for s in stripe.checkout.Session.list(payment_intent=paid.payment_intent).data]
refund = stripe.Refund.create(payment_intent=paid.payment_intent, amount=1000)
summary["refund"] = {"amount": refund.amount, "status": refund.status}

# Events, listed and auto-paginated.
summary["events"] = [e.type for e in stripe.Event.list(limit=3).auto_paging_iter()]

deadline = time.time() + 10
while len(received) < len(summary["events"]) and time.time() < deadline:
    time.sleep(0.05)
summary["received"] = sorted(r["type"] for r in received)
summary["rejected"] = rejected
# A delivery counts once its 2xx is back at the sandbox, a moment after the receiver saw it; until
# then Stripe lists the event with delivery_success=false (still pending), and so does the sandbox.
undelivered = [e.id for e in stripe.Event.list(delivery_success=False).data]
while undelivered and time.time() < deadline:
    time.sleep(0.05)
    undelivered = [e.id for e in stripe.Event.list(delivery_success=False).data]
summary["undelivered_events"] = undelivered
summary["delivered_events"] = len(stripe.Event.list(delivery_success=True, limit=100).data)


def refused(call):
    """What Stripe's SDK raises for a refused request, as code, param and message."""
    try:
        call()
        return None
    except stripe.InvalidRequestError as e:
        return {"code": e.code, "param": e.param, "http_status": e.http_status, "message": e.user_message}


base = dict(mode="payment", success_url="https://shop.test/ok", line_items=[{"price": price.id, "quantity": 1}])
checks = {
    "unknown": refused(lambda: stripe.checkout.Session.create(**base, sucess_url="https://shop.test/typo")),
    "unknown_nested": refused(lambda: stripe.checkout.Session.create(
        **{**base, "line_items": [{"price": price.id, "quantity": 1, "quantiy": 2}]})),
    "future_usage": refused(lambda: stripe.checkout.Session.create(
        **base, payment_intent_data={"setup_future_usage": "off_session"})),
    "ideal": refused(lambda: stripe.checkout.Session.create(**base, payment_method_types=["ideal"])),
    "customer": refused(lambda: stripe.checkout.Session.create(**base, customer="cus_123")),
    "unknown_filter": refused(lambda: stripe.checkout.Session.list(colour="red")),
    "bad_expand": refused(lambda: stripe.checkout.Session.retrieve(with_data.id, expand=["customer"])),
}
# A request refused as invalid saves nothing under its key: corrected, it goes through.
checks["typo_with_key"] = refused(lambda: stripe.checkout.Session.create(
    **base, sucess_url="x", idempotency_key="sdk-fix-1"))
checks["corrected_with_key"] = stripe.checkout.Session.create(**base, idempotency_key="sdk-fix-1").status
summary["refused"] = checks

# expand[] on retrieve, and on lists as data.…
expanded = stripe.checkout.Session.retrieve(with_data.id, expand=["payment_intent.latest_charge", "line_items"])
charged = stripe.PaymentIntent.retrieve(paid.payment_intent, expand=["latest_charge"])
listed = stripe.checkout.Session.list(payment_intent=paid.payment_intent, expand=["data.payment_intent"])
summary["expanded"] = {
    "payment_intent_status": expanded.payment_intent.status,
    "nested_charge": expanded.payment_intent.latest_charge.object,
    "line_item_quantity": expanded.line_items.data[0].quantity,
    "latest_charge": [charged.latest_charge.object, charged.latest_charge.amount_refunded],
    "listed_payment_intent": listed.data[0].payment_intent.id,
}

# List filters, and ending_before's has_more.
every = stripe.checkout.Session.list(limit=100).data
before = stripe.checkout.Session.list(limit=1, ending_before=every[-1].id)
summary["filters"] = {
    "complete": [x.id for x in stripe.checkout.Session.list(status="complete").data],
    "expired": [x.id for x in stripe.checkout.Session.list(status="expired").data],
    "customer": [x.id for x in stripe.checkout.Session.list(customer="cus_nobody").data],
    "future": [x.id for x in stripe.checkout.Session.list(created={"gt": int(time.time()) + 3600}).data],
    "before": [[x.id for x in before.data], before.has_more, [x.id for x in every]],
}
# Charges, and every object's keys, to compare with Stripe's own example objects.
latest = stripe.Event.list(limit=1).data[0]
charge = stripe.Charge.retrieve(charged.latest_charge.id)
summary["charges"] = {
    "for_intent": [c.id for c in stripe.Charge.list(payment_intent=paid.payment_intent).data],
    "latest": charge.id, "status": charge.status, "amount_refunded": charge.amount_refunded,
    "refund_charge": refund.charge, "payment_method": intent.payment_method is not None,
}
summary["events_meta"] = {"api_version": latest.api_version, "pending_webhooks": latest.pending_webhooks,
                          "customer_details_open": with_price.customer_details,
                          "customer_details_paid": paid.customer_details.email if paid.customer_details else None}
summary["shapes"] = {
    "checkout.session": sorted(stripe.checkout.Session.retrieve(with_data.id).to_dict().keys()),
    "item": sorted(stripe.checkout.Session.list_line_items(with_data.id).data[0].to_dict().keys()),
    "payment_intent": sorted(stripe.PaymentIntent.retrieve(paid.payment_intent).to_dict().keys()),
    "charge": sorted(charge.to_dict().keys()),
    "refund": sorted(refund.to_dict().keys()),
    "price": sorted(price.to_dict().keys()),
    "product": sorted(product.to_dict().keys()),
    "event": sorted(latest.to_dict().keys()),
}


def control(path, body):
    return sandbox_sdk.control(api_base, "checkout/sessions/" + path, body)


# 3-D Secure: the PaymentIntent requires_action until the challenge ends; failed, the session
# stays open; completed, it pays. The email typed on the page is the customer's.
secure = stripe.checkout.Session.create(**base)
first = control(f"{secure.id}/pay", {"card": "4000002760003184", "email": "ann@example.com"})
waiting = stripe.PaymentIntent.retrieve(first["payment_intent"])
failed = control(f"{secure.id}/authenticate", {"complete": False})
after_fail = stripe.PaymentIntent.retrieve(first["payment_intent"])
summary["shapes"]["payment_method"] = sorted(after_fail.last_payment_error.payment_method.to_dict().keys())
control(f"{secure.id}/pay", {"card": "4000002760003184", "email": "ann@example.com"})
done = control(f"{secure.id}/authenticate", {"complete": True})
secured = stripe.checkout.Session.retrieve(secure.id)
summary["three_d_secure"] = {
    "first": first["outcome"], "status": waiting.status, "next_action": waiting.next_action.type,
    "failed": failed["decline_code"], "after_fail": after_fail.status,
    "after_fail_error": after_fail.last_payment_error.code, "done": done["outcome"],
    "session": [secured.status, secured.payment_status, secured.customer_details.email],
    "events": [e.type for e in stripe.Event.list(limit=100).data if e.data.object.to_dict().get("id") == first["payment_intent"]],
}
summary["customer_details_open"] = stripe.checkout.Session.create(**base).customer_details


def priced(currency, amount, **extra):
    return refused(lambda: stripe.checkout.Session.create(
        mode="payment", success_url="https://shop.test/ok", **extra,
        line_items=[{"price_data": {"currency": currency, "unit_amount": amount, "product_data": {"name": "X"}},
                     "quantity": 1}]))


summary["amounts"] = {
    "unknown_currency": priced("xyz", 1000),
    "below_minimum": priced("eur", 10),
    "above_maximum": priced("eur", 100000000),
    "sepa_in_usd": priced("usd", 1000, payment_method_types=["card", "sepa_debit"]),
    "free": priced("eur", 0),
    "minimum": priced("eur", 50),
    "yen": priced("jpy", 50),
}
# What is accepted is kept: products, prices, payment_intent_data, locale, submit_type.
custom = stripe.Product.create(id="prod_custom_1", name="Tote", description="A bag", active=False,
                               metadata={"sku": "t1"}, images=["https://shop.test/t.png"])
again_id = refused(lambda: stripe.Product.create(id="prod_custom_1", name="Tote"))
named = stripe.Price.create(product=custom.id, unit_amount=900, currency="eur", nickname="std",
                            lookup_key="tote_std", metadata={"k": "v"})
lookup_again = refused(lambda: stripe.Price.create(product=custom.id, unit_amount=900, currency="eur",
                                                   lookup_key="tote_std"))
kept = stripe.checkout.Session.create(**base, locale="fr", submit_type="pay", customer_email="eve@example.com",
                                      payment_intent_data={"description": "Order 7", "receipt_email": "r@example.com",
                                                           "statement_descriptor_suffix": "ORDER7"})
control(f"{kept.id}/pay", {"card": "4242424242424242", "email": "mallory@example.com"})
kept = stripe.checkout.Session.retrieve(kept.id, expand=["payment_intent.latest_charge"])
kept_pi = kept.payment_intent
refunds = [stripe.Refund.create(payment_intent=kept_pi.id, amount=100),
           stripe.Refund.create(payment_intent=kept_pi.id, reason="requested_by_customer")]
declined = stripe.checkout.Session.create(**base)
control(f"{declined.id}/pay", {"card": "4000000000009995"})
failed_charge = stripe.Charge.list(payment_intent=stripe.checkout.Session.retrieve(declined.id).payment_intent).data[0]
items = stripe.checkout.Session.list_line_items(with_data.id, expand=["data.price.product"])
summary["kept"] = {
    "product": [custom.id, custom.description, custom.active, custom.metadata.to_dict(), custom.images],
    "again_id": again_id["code"] if again_id else None,
    "price": [named.nickname, named.lookup_key, named.metadata.to_dict()],
    "lookup_again": lookup_again["param"] if lookup_again else None,
    "session": [kept.locale, kept.submit_type, kept.customer_details.email],
    "intent": [kept_pi.description, kept_pi.receipt_email, kept_pi.statement_descriptor_suffix],
    "charge": [kept_pi.latest_charge.description, kept_pi.latest_charge.receipt_email],
    "charge_refunds": stripe.Charge.retrieve(kept_pi.latest_charge.id).refunds.total_count,
    "refunded_again": refused(lambda: stripe.Refund.create(payment_intent=kept_pi.id))["code"],
    "failure_code": [failed_charge.failure_code, failed_charge.status],
    "item_price_keys": sorted(items.data[0].price.to_dict().keys()),
    "item_product": items.data[0].price.product.object,
}
summary["invalid"] = {
    "locale": refused(lambda: stripe.checkout.Session.create(**base, locale="zz")),
    "mode": refused(lambda: stripe.checkout.Session.create(**{**base, "mode": "bogus"})),
    "subscription": refused(lambda: stripe.checkout.Session.create(**{**base, "mode": "subscription"})),
    "reason": refused(lambda: stripe.Refund.create(payment_intent=kept_pi.id, reason="bogus")),
    "zero": refused(lambda: stripe.Refund.create(payment_intent=paid.payment_intent, amount=0)),
    "descriptor": refused(lambda: stripe.checkout.Session.create(
        **base, payment_intent_data={"statement_descriptor": "ab"})),
    "descriptor_chars": [refused(lambda: stripe.checkout.Session.create(
        **base, payment_intent_data={key: f"Shop {c}7"})) for key in ["statement_descriptor",
                                                                    "statement_descriptor_suffix"]
                         for c in "<>\\'\"*"],
    "countries": [refused(lambda: stripe.checkout.Session.create(
        **base, shipping_address_collection={"allowed_countries": ["FR", c]})) for c in ["XX", "IR", "fr", "XK"]],
    "emails": [refused(lambda: stripe.checkout.Session.create(**base, customer_email=e))
               for e in ["notanemail", 'a"><script>x</script>@b.c', "a b@c.de", "a@b@c.de", "a@bc",
                         "a@.bc", "@b.cd", "o'brien+shop@example.com"]],
}
# A URL Stripe does not serve: its JSON 404, as the SDK's raw request sees it.
client = stripe.StripeClient(stripe.api_key, base_addresses={"api": api_base}, max_network_retries=0)
try:
    client.raw_request("delete", "/v1/checkout/sessions")
    summary["unknown_route"] = None
except stripe.InvalidRequestError as e:
    summary["unknown_route"] = [e.http_status, e.user_message.startswith("Unrecognized request URL")]

# Stripe runs the request, then its answer is lost: the SDK sees a 500, and its retry with the
# same key gets the session that was made.
urllib.request.urlopen(urllib.request.Request(
    f"{api_base}/_sandbox/faults", data=json.dumps({"fail_next": 1, "status": 500, "after_execution": True}).encode(),
    headers={"Content-Type": "application/json"})).read()
try:
    stripe.checkout.Session.create(**base, idempotency_key="lost-answer")
    lost = None
except stripe.APIError as e:
    lost = e.http_status
retried = stripe.checkout.Session.create(**base, idempotency_key="lost-answer")
summary["lost_answer"] = [lost, retried.id == stripe.checkout.Session.list(limit=1).data[0].id]
# Webhook endpoints, as `caisse stripe setup` makes them: the secret at creation only.
made = stripe.WebhookEndpoint.create(
    url="https://shop.test/api/webhooks/stripe",
    enabled_events=["checkout.session.completed", "charge.refunded"],
    api_version="2024-06-20",
)
listed = stripe.WebhookEndpoint.list(limit=100)
got = stripe.WebhookEndpoint.retrieve(made.id)
changed = stripe.WebhookEndpoint.modify(made.id, enabled_events=["*"], disabled=True)
deleted = stripe.WebhookEndpoint.delete(made.id)
try:
    stripe.WebhookEndpoint.create(url="https://shop.test/x", enabled_events=["*"], api_version="2999-01-01")
    future = None
except stripe.InvalidRequestError as e:
    future = e.param
summary["webhook_endpoints"] = {
    "secret": made.secret.startswith("whsec_"),
    "listed": [[e.url, e.enabled_events, e.api_version] for e in listed.data if e.id == made.id],
    "retrieved_has_secret": "secret" in got,
    "keys": sorted(got.to_dict().keys()),
    "changed": [changed.enabled_events, changed.status],
    "deleted": deleted.deleted,
    "future_version": future,
}
# Shipping: the countries and the rate as the SDK reads them (the rate retrieved as a
# ShippingRate), an address outside them refused by the page, one in France paid with the rate
# added, the address where the events' API version puts it.
shipped = stripe.checkout.Session.create(
    **base, shipping_address_collection={"allowed_countries": ["FR", "BE"]},
    shipping_options=[{"shipping_rate_data": {
        "type": "fixed_amount", "display_name": "Colissimo", "fixed_amount": {"amount": 490, "currency": "eur"},
        "delivery_estimate": {"minimum": {"unit": "business_day", "value": 2}, "maximum": {"unit": "business_day", "value": 4}}}}])
rate = stripe.ShippingRate.retrieve(shipped.shipping_options[0].shipping_rate)
address = {"card": "4242424242424242", "shipping_name": "Ada", "shipping_line1": "1 rue", "shipping_postal_code": "75001",
           "shipping_city": "Paris", "shipping_rate": rate.id}
try:
    control(f"{shipped.id}/pay", {**address, "shipping_country": "DE"})
    germany = None
except urllib.error.HTTPError as e:
    germany = json.loads(e.read())["error"]["code"]
control(f"{shipped.id}/pay", {**address, "shipping_country": "FR"})
done_shipping = stripe.checkout.Session.retrieve(shipped.id)
summary["shipping"] = {
    "countries": shipped.shipping_address_collection.allowed_countries,
    "rate": [rate.id.startswith("shr_"), rate.display_name, rate.fixed_amount.amount, rate.delivery_estimate.minimum.value],
    "germany": germany,
    "amounts": [done_shipping.amount_subtotal, done_shipping.shipping_cost.amount_total, done_shipping.amount_total],
    "city": done_shipping.collected_information.shipping_details.address.city,
    "name": done_shipping.customer_details.name,
}
print(json.dumps(summary))
