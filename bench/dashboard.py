#!/usr/bin/env python3
"""Times every dashboard page against a SQLite database of 100,000 orders.

    cargo build --release -p caisse
    python3 bench/dashboard.py [path/to/caisse] [orders]

Seeds a fresh database (orders with their holds, items, payments, three webhook events and two
audit entries each, a Stripe request, a confirmation email; 1,000 alerts), starts `caisse serve`
on it, signs in, and asks each page 7 times. Prints the median and the slowest time of each page;
exits 1 when a page's median is over 100 ms. Standard library only.
"""
import http.cookiejar, json, os, random, re, sqlite3, subprocess, sys, tempfile, time, urllib.parse, urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/caisse-target/release/caisse")
orders = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
work = tempfile.mkdtemp(prefix="caisse-dashboard-bench-")
db_path = os.path.join(work, "caisse.db")
env = {
    "PATH": os.environ.get("PATH", ""),
    "DATABASE_URL": f"sqlite://{db_path}",
    "STRIPE_SECRET_KEY": "sk_test_benchdashboard0123456789",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench_dashboard_0123456789",
    "STRIPE_API_BASE": "http://127.0.0.1:9",
    "CAISSE_MAIL": "off",
    "CAISSE_GUEST_COOKIE_SECRET": "bench-guest-secret-0123456789-0123456789",
    "CAISSE_LOG_FORMAT": "json",
}
subprocess.run([binary, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)

print(f"seeding {orders} orders into {db_path} …", flush=True)
started = time.time()
db = sqlite3.connect(db_path)
now = int(time.time())
rnd = random.Random(7)
db.execute("INSERT OR IGNORE INTO products (id, name, unit_amount, currency, stock_on_hand, created_at, updated_at) "
           "VALUES ('tee', 'T-shirt', 2500, 'eur', 1000000, ?, ?)", (now, now))
def rows():
    for n in range(1, orders + 1):
        t = now - rnd.randrange(60 * 86400)
        yield n, t
holds, order_rows, items, payments, events, audit, requests, outbox = [], [], [], [], [], [], [], []
for n, t in rows():
    hold, order, pi, cs = f"hold_{n:032x}", f"ord_{n:032x}", f"pi_bench{n}", f"cs_test_bench{n}"
    email = f"customer{n % 20000}@example.com"
    holds.append((hold, f"guest_{n}", email, "converted", 2500, "eur", t + 1800, cs, pi, t, t))
    order_rows.append((n, order, hold, f"guest_{n}", email, "paid", 2500, "eur", t, t))
    items.append((order, "tee", 1, 2500))
    payments.append((f"pay_{n}", order, pi, cs, 2500, "eur", "succeeded", t))
    for k, kind in enumerate(["checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"]):
        evt = f"evt_bench{n}_{k}"
        events.append((evt, kind, 0, t, json.dumps({"id": evt, "type": kind, "data": {"object": {"id": pi}}}), "processed", 1, t + 1, t + 1))
        if k < 2:
            audit.append((t + 1, f"webhook:{evt}", "order.created" if k else "hold.linked", "order" if k else "hold",
                          order if k else hold, f"Order #{n} created after Stripe payment {pi}"))
    requests.append(("POST", "/v1/checkout/sessions", f"caisse-{hold}-create", 200, f"req_{n}", 40, t, hold))
    outbox.append(("order_confirmation", f"order_confirmation:{order}", json.dumps({"order_id": order}), "sent", 1, t, t))
db.executemany("INSERT INTO holds (id, customer_id, email, status, amount_total, currency, expires_at, checkout_session_id, payment_intent_id, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", holds)
db.executemany("INSERT INTO orders (number, id, hold_id, customer_id, email, status, amount_total, currency, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)", order_rows)
db.executemany("INSERT INTO order_items (order_id, product_id, quantity, unit_amount) VALUES (?,?,?,?)", items)
db.executemany("INSERT INTO payments (id, order_id, payment_intent_id, checkout_session_id, amount, currency, status, created_at) VALUES (?,?,?,?,?,?,?,?)", payments)
db.executemany("INSERT INTO webhook_events (stripe_event_id, type, livemode, stripe_created, payload, status, attempts, received_at, processed_at) VALUES (?,?,?,?,?,?,?,?,?)", events)
db.executemany("INSERT INTO audit_log (at, actor, action, entity_type, entity_id, message) VALUES (?,?,?,?,?,?)", audit)
db.executemany("INSERT INTO stripe_requests (method, path, idempotency_key, status, request_id, duration_ms, at, subject) VALUES (?,?,?,?,?,?,?,?)", requests)
db.executemany("INSERT INTO outbox (kind, dedup_key, payload, status, attempts, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?)", outbox)
db.executemany("INSERT INTO alerts (kind, severity, message, dedup_key, created_at) VALUES ('payment_failed','warning','declined',?,?)",
               [(f"bench-{i}", now - i) for i in range(1000)])
db.commit()
db.execute("ANALYZE")
db.close()
print(f"seeded in {time.time() - started:.0f} s", flush=True)

password = "bench-dashboard-password"
hashed = subprocess.run([binary, "admin", "hash-password"], input=password + "\n", capture_output=True, text=True, check=True).stdout.strip()
port = 18000 + os.getpid() % 1000
server = subprocess.Popen([binary, "serve"], env={**env, "CAISSE_ADMIN_PASSWORD_HASH": hashed, "CAISSE_LISTEN": f"127.0.0.1:{port}",
                          "CAISSE_METRICS_LISTEN": "127.0.0.1:0"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz"); break
        except OSError:
            time.sleep(0.1)
    jar = http.cookiejar.CookieJar()
    web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = web.open(base + "/admin/login").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
    web.open(base + "/admin/login", urllib.parse.urlencode({"csrf": csrf, "password": password}).encode()).read()
    mid = orders // 2
    pages = [
        "/admin", "/admin/orders", f"/admin/orders?before={mid}", f"/admin/orders?q=%23{mid}",
        "/admin/orders?q=customer42%40example.com", f"/admin/orders?q=pi_bench{mid}", f"/admin/orders/{mid}",
        "/admin/holds", "/admin/holds?status=converted", "/admin/holds?status=active", "/admin/events",
        "/admin/events?status=processed&type=payment_intent.succeeded", "/admin/events?status=failed",
        f"/admin/events/evt_bench{mid}_1", "/admin/stripe-requests", "/admin/audit",
        f"/admin/audit?entity_type=order&entity_id=ord_{mid:032x}", "/admin/audit?actor=admin",
        "/admin/audit?from=2020-01-01&to=2020-01-31", "/admin/alerts", "/admin/alerts?all=1",
    ]
    worst = 0.0
    print(f"\n{'page':<64} {'median ms':>9} {'max ms':>7}")
    for page in pages:
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            body = web.open(base + page).read()
            times.append((time.perf_counter() - t0) * 1000)
        assert b"Sign in" not in body[:2000] or page == "/admin", page
        times.sort()
        worst = max(worst, times[3])
        print(f"{page:<64} {times[3]:>9.1f} {times[-1]:>7.1f}")
    print(f"\nslowest median: {worst:.1f} ms ({orders} orders, SQLite, {os.cpu_count()} cores)")
    sys.exit(0 if worst <= 100 else 1)
finally:
    server.terminate()
    server.wait()
