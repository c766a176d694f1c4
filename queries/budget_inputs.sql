-- budget_inputs: per keyword, what the budget recommendation works from.
--
-- Purpose: visits, conversions and revenue under one model, joined to imported ad
--   costs (clicks, cost) when there are any. `keyrank rank` and `keyrank budget` use it.
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
--   model  first|last|linear|position|time_decay = last  attribution model
--   estimated  true|false = false  include keywords estimated from Search Console
-- Columns: keyword, visits, conversions, revenue, clicks, cost (NULL without costs)
WITH credited AS (
  SELECT keyword, SUM(visits) AS visits,
    SUM(conversions_${model:id}) AS conversions,
    SUM(revenue_${model:id}) AS revenue
  FROM keyword_daily
  WHERE keyword IS NOT NULL AND day BETWEEN ${from} AND ${to}
    AND (${estimated} = 'true' OR NOT estimated)
  GROUP BY keyword
),
costs AS (
  SELECT keyword, SUM(clicks) AS clicks, SUM(cost) AS cost
  FROM ad_costs
  WHERE day BETWEEN ${from} AND ${to}
  GROUP BY keyword
)
SELECT c.keyword, c.visits, c.conversions, c.revenue, k.clicks, k.cost
FROM credited c LEFT JOIN costs k ON c.keyword = k.keyword
ORDER BY c.keyword
