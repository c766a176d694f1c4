-- keyword_ranking: search terms ranked by an honest conversion estimate.
--
-- Purpose: which keywords bring visitors who buy, with small counts shrunk toward
--   what is typical (empirical-Bayes Beta prior fitted over all keywords) and a 95 %
--   Wilson interval. Pseudo-keywords such as (not provided) are listed last.
-- Parameters:
--   from        date  = 1970-01-01   first day included
--   to          date  = 9999-12-31   last day included
--   model       first|last|linear|position|time_decay = last  attribution model
--   estimated   true|false = false  include keywords estimated from Search Console
--   min_visits  int   = 1            hide keywords with fewer visits
--   limit       int   = 50           number of rows
-- Columns: keyword, visits, conversions, conversion_rate (raw), shrunk_rate,
--   rate_low, rate_high (Wilson 95 %), revenue, revenue_per_visit
WITH credited AS (
  SELECT
    keyword,
    visits,
    conversions_${model:id} AS conversions,
    revenue_${model:id} AS revenue
  FROM keyword_daily
  WHERE keyword IS NOT NULL
    AND day BETWEEN ${from} AND ${to}
    AND (${estimated} = 'true' OR NOT estimated)
),
per_keyword AS (
  SELECT keyword, SUM(visits) AS visits, SUM(conversions) AS conversions, SUM(revenue) AS revenue
  FROM credited
  GROUP BY keyword
),
-- The prior over the real keywords, beside every keyword: one pass, not two.
with_prior AS (
  SELECT *,
    beta_prior(CASE WHEN keyword NOT LIKE '(%)' THEN conversions END, visits) OVER () AS p
  FROM per_keyword
)
SELECT
  keyword,
  visits,
  conversions,
  ROUND(CAST(conversions AS DOUBLE) / NULLIF(visits, 0), 4) AS conversion_rate,
  ROUND(shrunk_rate(conversions, visits, get_field(p, 'alpha'), get_field(p, 'beta')), 4) AS shrunk_rate,
  ROUND(wilson_lower(conversions, visits), 4) AS rate_low,
  ROUND(wilson_upper(conversions, visits), 4) AS rate_high,
  revenue,
  ROUND(CAST(revenue AS DOUBLE) / NULLIF(visits, 0), 2) AS revenue_per_visit
FROM with_prior
WHERE visits >= ${min_visits}
ORDER BY keyword LIKE '(%)', shrunk_rate DESC NULLS LAST, visits DESC, keyword
LIMIT ${limit}
