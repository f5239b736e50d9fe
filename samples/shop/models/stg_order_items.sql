SELECT order_id, product_id, quantity, unit_price, quantity * unit_price AS line_amount
FROM order_items
