SELECT customer_id, SUM(line_amount) AS lifetime_value, COUNT(DISTINCT order_id) AS orders
FROM int_order_lines
WHERE status IN ('paid', 'shipped')
GROUP BY customer_id
