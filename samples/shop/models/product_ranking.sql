WITH revenue AS (
    SELECT product_id, category, SUM(line_amount) AS revenue
    FROM int_order_lines
    WHERE status IN ('paid', 'shipped')
    GROUP BY product_id, category
)
SELECT product_id, category, revenue,
       RANK() OVER (ORDER BY revenue DESC) AS revenue_rank
FROM revenue
