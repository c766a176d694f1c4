-- landing_by_keyword: the landing page that converts best for each keyword.
--
-- Purpose: which content turns a search into a sale (the seeds' "which page converts").
-- Parameters:
--   from        date  = 1970-01-01   first day included
--   to          date  = 9999-12-31   last day included
--   min_visits  int   = 5            ignore landing pages with fewer visits
-- Columns: keyword, landing, visits, conversions (last touch), conversion_rate,
--   rate_low (Wilson 95 %), pages (landing pages seen for the keyword)
WITH pages AS (
  SELECT keyword, landing, SUM(visits) AS visits, SUM(conversions_last) AS conversions
  FROM keyword_daily
  WHERE keyword IS NOT NULL AND keyword NOT LIKE '(%)'
    AND day BETWEEN ${from} AND ${to} AND NOT estimated
  GROUP BY keyword, landing
),
ranked AS (
  SELECT *,
    ROW_NUMBER() OVER (PARTITION BY keyword
                       ORDER BY wilson_lower(conversions, visits) DESC, visits DESC, landing) AS pos,
    COUNT(*) OVER (PARTITION BY keyword) AS pages
  FROM pages
  WHERE visits >= ${min_visits}
)
SELECT keyword, landing, visits, conversions,
  ROUND(CAST(conversions AS DOUBLE) / NULLIF(visits, 0), 4) AS conversion_rate,
  ROUND(wilson_lower(conversions, visits), 4) AS rate_low,
  pages
FROM ranked
WHERE pos = 1
ORDER BY conversions DESC, visits DESC, keyword
