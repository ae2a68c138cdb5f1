"""Drives the sandbox's refunds (retrieve, list, update, a SEPA refund pending until it settles) and
manual captures (capture, partial capture, cancel, the 7-day expiry) with Stripe's official Python
SDK, unchanged, and receives the webhooks with the SDK's construct_event. Prints one JSON summary
line for the Rust test.

usage: check_refunds_capture.py API_BASE API_KEY WEBHOOK_SECRET RECEIVER_PORT
"""
import json
import time

import stripe

import sandbox_sdk

api_base, webhook_secret, port = sandbox_sdk.configure()
received = []


def on_webhook(payload, signature):
    event = stripe.Webhook.construct_event(payload, signature, webhook_secret)
    received.append({"id": event.id, "type": event.type,
                     "previous": event.data.to_dict().get("previous_attributes")})
    return 200


sandbox_sdk.receive(port, on_webhook)


def control(path, body):
    return sandbox_sdk.control(api_base, path, body)


def refused(call):
    """What the SDK raises for a refused request: code, param, HTTP status."""
    try:
        call()
        return None
    except stripe.InvalidRequestError as e:
        return [e.code, e.param, e.http_status]


def session(**extra):
    return stripe.checkout.Session.create(
        mode="payment", success_url="https://shop.test/ok",
        line_items=[{"price_data": {"currency": "eur", "unit_amount": 5000, "product_data": {"name": "Lamp"}},
                     "quantity": 1}], **extra)


def paid(pay, **extra):
    """A session paid with `pay` (`{"card": …}` or `{"iban": …}`), and its PaymentIntent id."""
    s = session(**extra)
    outcome = control(f"checkout/sessions/{s.id}/pay", pay)
    return s, outcome["payment_intent"]


def events_of(pi_id):
    """The types of the events about a PaymentIntent, its charge or its refunds, oldest first."""
    types = []
    for e in stripe.Event.list(limit=100).auto_paging_iter():
        o = e.data.object.to_dict()
        if pi_id in (o.get("id"), o.get("payment_intent")):
            types.append(e.type)
    return types[::-1]


summary = {}
CARD = {"card": "4242424242424242"}

# Refunds as objects: retrieved, listed by charge and PaymentIntent with cursors, updated.
_, pi_id = paid(CARD)
charge_id = stripe.PaymentIntent.retrieve(pi_id).latest_charge
first = stripe.Refund.create(payment_intent=pi_id, amount=1000, metadata={"k": "v"})
second = stripe.Refund.create(payment_intent=pi_id, amount=500)
_, other_pi = paid(CARD)
other = stripe.Refund.create(payment_intent=other_pi, amount=700)
got = stripe.Refund.retrieve(first.id)
page = stripe.Refund.list(payment_intent=pi_id, limit=1)
summary["refunds"] = {
    "retrieved": [got.id == first.id, got.amount, got.status, got.charge == charge_id, got.metadata.to_dict()],
    "by_intent": [r.id for r in stripe.Refund.list(payment_intent=pi_id).data],
    "by_charge": [r.id for r in stripe.Refund.list(charge=charge_id).data],
    "all": [r.id for r in stripe.Refund.list().auto_paging_iter()],
    "page": [[r.id for r in page.data], page.has_more],
    "after": [r.id for r in stripe.Refund.list(payment_intent=pi_id, starting_after=second.id).data],
    "before": [r.id for r in stripe.Refund.list(payment_intent=pi_id, ending_before=first.id).data],
    "future": [r.id for r in stripe.Refund.list(created={"gt": int(time.time()) + 3600}).data],
    "ids": [first.id, second.id, other.id],
    "missing": refused(lambda: stripe.Refund.retrieve("re_missing")),
    "bad_filter": refused(lambda: stripe.Refund.list(customer="cus_1")),
}
updated = stripe.Refund.modify(first.id, metadata={"k": "", "note": "boxed"})
update_event = stripe.Event.list(type="refund.updated", limit=1).data[0]
summary["update"] = {
    "metadata": updated.metadata.to_dict(),
    "kept": stripe.Refund.retrieve(first.id).metadata.to_dict(),
    "on_charge": [r.metadata.to_dict() for r in stripe.Charge.retrieve(charge_id).refunds.data if r.id == first.id],
    "previous": update_event.data.previous_attributes.to_dict(),
    "object": update_event.data.object.id == first.id,
    "amount": refused(lambda: stripe.Refund.modify(first.id, amount=1)),
    "missing": refused(lambda: stripe.Refund.modify("re_missing", metadata={"a": "b"})),
}

# A SEPA debit's refund is pending, and succeeds later on the sandbox clock.
_, sepa_pi = paid({"iban": "DE89370400440532013000"})
control("clock/advance", {"seconds": 10})
sepa_refund = stripe.Refund.create(payment_intent=sepa_pi)
pending = stripe.Refund.retrieve(sepa_refund.id).status
control("clock/advance", {"seconds": 10})
settled = stripe.Refund.retrieve(sepa_refund.id)
summary["sepa"] = {
    "statuses": [stripe.PaymentIntent.retrieve(sepa_pi).status, sepa_refund.status, pending, settled.status],
    "charge": stripe.Charge.retrieve(settled.charge).refunds.data[0].status,
    "events": events_of(sepa_pi)[-4:],
}

# Manual capture: authorized on the page, captured in part, the rest released.
MANUAL = {"payment_intent_data": {"capture_method": "manual"}}
manual, manual_pi = paid(CARD, **MANUAL)
completed = stripe.checkout.Session.retrieve(manual.id)
held = stripe.PaymentIntent.retrieve(manual_pi, expand=["latest_charge"])
summary["authorized"] = {
    "types": manual.payment_method_types,
    "sepa": refused(lambda: session(payment_method_types=["sepa_debit"], **MANUAL)),
    "session": [completed.status, completed.payment_status],
    "intent": [held.status, held.capture_method, held.amount_capturable, held.amount_received],
    "charge": [held.latest_charge.status, held.latest_charge.paid, held.latest_charge.captured,
               held.latest_charge.amount_captured],
    "refund": refused(lambda: stripe.Refund.create(payment_intent=manual_pi)),
    "too_much": refused(lambda: stripe.PaymentIntent.capture(manual_pi, amount_to_capture=5001)),
    "too_little": refused(lambda: stripe.PaymentIntent.capture(manual_pi, amount_to_capture=49)),
    "final_capture": refused(lambda: stripe.PaymentIntent.capture(manual_pi, final_capture=False)),
}
secure, secure_pi = paid({"card": "4000002760003184"}, **MANUAL)
control(f"checkout/sessions/{secure.id}/authenticate", {"complete": True})
summary["authorized"]["three_d_secure"] = stripe.PaymentIntent.retrieve(secure_pi).status
captured = stripe.PaymentIntent.capture(manual_pi, amount_to_capture=3000, expand=["latest_charge"])
summary["captured"] = {
    "intent": [captured.status, captured.amount_received, captured.amount_capturable],
    "charge": [captured.latest_charge.captured, captured.latest_charge.amount_captured,
               captured.latest_charge.amount_refunded, captured.latest_charge.refunded],
    "again": refused(lambda: stripe.PaymentIntent.capture(manual_pi)),
    "cancel_after": refused(lambda: stripe.PaymentIntent.cancel(manual_pi)),
    "refund": stripe.Refund.create(payment_intent=manual_pi).amount,
    "refund_more": refused(lambda: stripe.Refund.create(payment_intent=manual_pi, amount=1)),
    "events": events_of(manual_pi),
}
refunded_charge = stripe.Charge.retrieve(captured.latest_charge.id)
summary["captured"]["refunded"] = [refunded_charge.amount_refunded, refunded_charge.refunded]

# Canceled: the whole authorization released.
_, canceled_pi = paid(CARD, **MANUAL)
canceled = stripe.PaymentIntent.cancel(canceled_pi, cancellation_reason="requested_by_customer")
released = stripe.Charge.retrieve(canceled.latest_charge)
_, automatic_pi = paid(CARD)
summary["canceled"] = {
    "intent": [canceled.status, canceled.cancellation_reason, canceled.amount_capturable, canceled.amount_received],
    "charge": [released.captured, released.amount_refunded, released.refunded],
    "again": refused(lambda: stripe.PaymentIntent.capture(canceled_pi)),
    "bad_reason": refused(lambda: stripe.PaymentIntent.cancel(canceled_pi, cancellation_reason="bored")),
    "automatic": refused(lambda: stripe.PaymentIntent.cancel(automatic_pi)),
    "missing": refused(lambda: stripe.PaymentIntent.capture("pi_missing")),
    "events": events_of(canceled_pi)[-2:],
}

# The dispute test card, only authorized, is disputed once captured.
_, disputed_pi = paid({"card": "4000000000000259"}, **MANUAL)
control("clock/advance", {"seconds": 10})
before_capture = [e.type for e in stripe.Event.list(type="charge.dispute.created").data]
stripe.PaymentIntent.capture(disputed_pi)
control("clock/advance", {"seconds": 10})
disputes = [e.data.object.payment_intent for e in stripe.Event.list(type="charge.dispute.created").data]
summary["dispute"] = [before_capture, disputes == [disputed_pi]]

# Left uncaptured, an authorization is canceled 7 days after its creation.
_, expiring_pi = paid(CARD, **MANUAL)
control("clock/advance", {"seconds": 7 * 86400 - 60})
still = stripe.PaymentIntent.retrieve(expiring_pi).status
control("clock/advance", {"seconds": 120})
expired = stripe.PaymentIntent.retrieve(expiring_pi, expand=["latest_charge"])
summary["expired"] = {
    "statuses": [still, expired.status, expired.cancellation_reason],
    "charge": [expired.latest_charge.captured, expired.latest_charge.refunded],
    "events": events_of(expiring_pi)[-2:],
}

# Every webhook arrived, verified, with its previous_attributes on the updates.
expected = len(stripe.Event.list(limit=100).data)
deadline = time.time() + 10
while len(received) < expected and time.time() < deadline:
    time.sleep(0.05)
summary["received"] = len(received) == expected
summary["updates"] = sorted({json.dumps([r["type"], r["previous"]]) for r in received if r["type"].endswith(".updated")})
summary["others_have_none"] = all(r["previous"] is None for r in received if not r["type"].endswith(".updated"))
print(json.dumps(summary))
