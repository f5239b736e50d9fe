{{ config(materialized='view') }}
-- Cancelled orders count as revenue in prod; the change under review
-- (`exclude_cancelled`) leaves them out.
select * from {{ ref('orders') }}
{% if var('exclude_cancelled', false) %}
where status <> 'cancelled'
{% endif %}
