SELECT product_id, category
FROM products
