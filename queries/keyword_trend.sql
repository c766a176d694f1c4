-- keyword_trend: weekly visits and conversions of the top keywords.
--
-- Purpose: is a keyword growing or fading? One row per keyword and ISO week.
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
--   top    int   = 10           how many keywords (by visits in the period)
-- Columns: week (Monday), keyword, visits, conversions (last touch), revenue
WITH top_keywords AS (
  SELECT keyword
  FROM keyword_daily
  WHERE keyword IS NOT NULL AND keyword NOT LIKE '(%)'
    AND day BETWEEN ${from} AND ${to} AND NOT estimated
  GROUP BY keyword
  ORDER BY SUM(visits) DESC, keyword
  LIMIT ${top}
)
SELECT
  CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE) AS week,
  k.keyword,
  SUM(visits) AS visits,
  SUM(conversions_last) AS conversions,
  SUM(revenue_last) AS revenue
FROM keyword_daily k JOIN top_keywords t ON k.keyword = t.keyword
WHERE day BETWEEN ${from} AND ${to} AND NOT estimated
GROUP BY 1, 2
ORDER BY week, visits DESC, k.keyword
