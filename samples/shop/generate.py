"""Writes the shop sample's data (deterministic): customers, products,
orders and order items as CSV in data/. Run from this folder:
    python3 generate.py
Three discontinued products are referenced by old order items but are no
longer in the product catalog, which is what the candidate change trips on.
"""
import csv
import random
from datetime import datetime, timedelta

rng = random.Random(20261122)
regions = ["eu-west", "eu-north", "us-east", "us-west", "ap-south"]
categories = ["books", "games", "garden", "kitchen", "toys", "tools"]

customers = [(c, f"customer-{c:04d}", rng.choice(regions)) for c in range(1, 301)]
products = [
    (p, f"product-{p:03d}", rng.choice(categories), round(rng.uniform(2, 120), 2))
    for p in range(1, 64)
]
discontinued = {61, 62, 63}
catalog = [p for p in products if p[0] not in discontinued]

start = datetime(2026, 9, 1)
orders, items = [], []
for o in range(1, 2001):
    at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 60))
    status = rng.choices(["paid", "shipped", "refunded", "cancelled"], [60, 30, 6, 4])[0]
    orders.append((o, rng.randrange(1, 301), at.strftime("%Y-%m-%d %H:%M:%S"), status))
    for _ in range(rng.randrange(1, 5)):
        product = rng.choice(products if rng.random() < 0.2 else catalog)
        items.append((o, product[0], rng.randrange(1, 4), product[3]))

def write(name, header, rows):
    with open(f"data/{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)

write("customers", ["customer_id", "name", "region"], customers)
write("products", ["product_id", "name", "category", "list_price"], catalog)
write("orders", ["order_id", "customer_id", "ordered_at", "status"], orders)
write("order_items", ["order_id", "product_id", "quantity", "unit_price"], items)
