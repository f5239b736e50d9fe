select country, sum(revenue) as revenue
from {{ ref('customer_revenue') }}
group by 1
