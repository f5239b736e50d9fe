-- The change under review: revenue rounded to cents for the dashboard.
SELECT CAST(l.ordered_at AS DATE) AS day, c.region,
       ROUND(SUM(l.line_amount), 2) AS revenue, COUNT(DISTINCT l.order_id) AS orders
FROM int_order_lines l
JOIN customers c ON l.customer_id = c.customer_id
WHERE l.status IN ('paid', 'shipped')
GROUP BY CAST(l.ordered_at AS DATE), c.region
