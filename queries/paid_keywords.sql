-- paid_keywords: per day, engine and paid keyword, spend against what it bought.
--
-- Purpose: each day's ad cost and clicks of a keyword (from `ad_costs`) beside the
--   conversions and revenue attributed to that engine's cpc visits of the keyword the
--   same day. `keyrank budget` fits its response curves on these rows.
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
--   model  first|last|linear|position|time_decay = last  attribution model
-- Columns: day, engine, keyword, cost, clicks, conversions, revenue
WITH costs AS (
  SELECT day, engine, keyword, SUM(cost) AS cost, SUM(clicks) AS clicks
  FROM ad_costs
  WHERE day BETWEEN ${from} AND ${to}
  GROUP BY day, engine, keyword
),
credited AS (
  SELECT day, source AS engine, keyword,
    SUM(conversions_${model:id}) AS conversions,
    SUM(revenue_${model:id}) AS revenue
  FROM keyword_daily
  WHERE medium = 'cpc' AND keyword IS NOT NULL AND day BETWEEN ${from} AND ${to}
  GROUP BY day, source, keyword
)
SELECT c.day, c.engine, c.keyword, c.cost, c.clicks,
  COALESCE(k.conversions, 0) AS conversions, COALESCE(k.revenue, 0) AS revenue
FROM costs c LEFT JOIN credited k
  ON c.day = k.day AND c.engine = k.engine AND c.keyword = k.keyword
ORDER BY c.engine, c.keyword, c.day
