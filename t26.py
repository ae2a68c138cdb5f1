from common import *
import time
# expire flow & PI canceled
s=sess(); pay(s.id, card='4000000000000002')
x=stripe.checkout.Session.expire(s.id); print('expire', x.status, x.payment_status, x.url)
pi=stripe.PaymentIntent.retrieve(x.payment_intent); print('pi', pi.status, pi.canceled_at, pi.cancellation_reason)
try: stripe.checkout.Session.expire(s.id)
except stripe.error.InvalidRequestError as e: print('re-expire', e.http_status, e.code, e.param)
r=pay(s.id); print('pay expired', r.status_code, r.text[:150])
r=requests.get(s.url); print('page of expired', r.status_code)
# SEPA
for iban in ['DE89370400440532013000','DE62370400440532013001','DE00123']:
    s=sess(); r=pay(s.id, card=None, iban=iban); print(iban, r.status_code, r.text[:150])
    s2=stripe.checkout.Session.retrieve(s.id, expand=['payment_intent']); print('  now', s2.status, s2.payment_status, s2.payment_intent and s2.payment_intent.status)
time.sleep(3)
s=sess(); pay(s.id, card=None, iban='DE89370400440532013000')
for i in range(10):
    s2=stripe.checkout.Session.retrieve(s.id, expand=['payment_intent']); 
    if s2.payment_status!='unpaid': break
    time.sleep(1)
print('sepa later', s2.status, s2.payment_status, s2.payment_intent.status, i)
r=raw('POST','/_sandbox/clock/advance',json={'seconds':600}); print(r.text)
s2=stripe.checkout.Session.retrieve(s.id, expand=['payment_intent']); print('sepa after 10min', s2.status, s2.payment_status, s2.payment_intent.status)
s=sess(line_items=[{'price_data':{'currency':'usd','unit_amount':1500,'product_data':{'name':'x'}},'quantity':1}]); r=pay(s.id, card=None, iban='DE89370400440532013000'); print('sepa usd', r.status_code, r.text[:150])
