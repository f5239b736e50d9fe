-- The change under review: an inner join to the catalog "to drop the
-- unknown category". It silently drops every line of a discontinued product.
SELECT i.order_id, o.customer_id, o.ordered_at, o.status, i.product_id,
       p.category, i.line_amount
FROM stg_order_items i
JOIN stg_orders o ON i.order_id = o.order_id
JOIN stg_products p ON i.product_id = p.product_id
