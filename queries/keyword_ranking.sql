-- keyword_ranking: search terms ranked by conversions, with rates and revenue.
--
-- Purpose: which keywords bring visitors who buy. Pseudo-keywords such as
--   (not provided) and (unattributed) are listed too, so totals add up.
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
--   model  text  = last         attribution model: first or last
--   limit  int   = 50           number of rows
-- Columns: keyword, visits, visitors, conversions, conversion_rate, revenue,
--   revenue_per_visit
SELECT
  keyword,
  SUM(visits) AS visits,
  SUM(visitors) AS visitors,
  SUM(CASE WHEN ${model} = 'first' THEN conversions_first ELSE conversions_last END) AS conversions,
  ROUND(CAST(SUM(CASE WHEN ${model} = 'first' THEN conversions_first ELSE conversions_last END) AS DOUBLE)
        / NULLIF(SUM(visits), 0), 4) AS conversion_rate,
  SUM(CASE WHEN ${model} = 'first' THEN revenue_first ELSE revenue_last END) AS revenue,
  ROUND(CAST(SUM(CASE WHEN ${model} = 'first' THEN revenue_first ELSE revenue_last END) AS DOUBLE)
        / NULLIF(SUM(visits), 0), 2) AS revenue_per_visit
FROM keyword_daily
WHERE keyword IS NOT NULL
  AND day BETWEEN ${from} AND ${to}
GROUP BY keyword
ORDER BY conversions DESC, visits DESC, keyword
LIMIT ${limit}
