{{ config(materialized='ephemeral') }}
select customer_id, trim(name) as name, country from {{ ref('customers') }}
