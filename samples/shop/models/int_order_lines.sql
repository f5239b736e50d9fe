-- One row per order line, with its order and product category. Lines of
-- products no longer in the catalog keep the category `unknown`.
SELECT i.order_id, o.customer_id, o.ordered_at, o.status, i.product_id,
       COALESCE(p.category, 'unknown') AS category, i.line_amount
FROM stg_order_items i
JOIN stg_orders o ON i.order_id = o.order_id
LEFT JOIN stg_products p ON i.product_id = p.product_id
