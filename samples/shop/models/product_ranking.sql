SELECT product_id, category, SUM(line_amount) AS revenue,
       RANK() OVER (ORDER BY SUM(line_amount) DESC) AS revenue_rank
FROM int_order_lines
WHERE status IN ('paid', 'shipped')
GROUP BY product_id, category
