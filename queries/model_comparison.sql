-- model_comparison: conversions per keyword under each attribution model.
--
-- Purpose: does a keyword start journeys (first touch) or close them (last touch)?
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
--   limit  int   = 50           number of rows
-- Columns: keyword, first, last, linear, position, time_decay, revenue_last
SELECT
  keyword,
  SUM(conversions_first) AS first,
  SUM(conversions_last) AS last,
  SUM(conversions_linear) AS linear,
  SUM(conversions_position) AS position,
  SUM(conversions_time_decay) AS time_decay,
  SUM(revenue_last) AS revenue_last
FROM keyword_daily
WHERE keyword IS NOT NULL
  AND day BETWEEN ${from} AND ${to} AND NOT estimated
GROUP BY keyword
HAVING SUM(conversions_first) + SUM(conversions_last) + SUM(conversions_linear) > 0
ORDER BY last DESC, first DESC, keyword
LIMIT ${limit}
