SELECT order_id, customer_id, CAST(ordered_at AS TIMESTAMP) AS ordered_at, status
FROM orders
