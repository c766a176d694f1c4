-- search_console_gap: Search Console clicks against logged organic visits.
--
-- Purpose: a check on both sources. Per engine and landing page, the clicks the
--   engine reports and the organic visits keyrank counted; a ratio far from 1 means
--   missing log files, a wrong --site, crawlers passing as people, or pages the
--   export does not cover.
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
-- Columns: engine, page, sc_clicks, logged_visits, visits_per_click
WITH sc AS (
  SELECT engine, page, SUM(clicks) AS clicks
  FROM search_queries
  WHERE page IS NOT NULL AND day BETWEEN ${from} AND ${to}
  GROUP BY engine, page
),
logged AS (
  SELECT source AS engine, landing AS page, SUM(visits) AS visits
  FROM keyword_daily
  WHERE medium = 'organic' AND NOT estimated AND day BETWEEN ${from} AND ${to}
    AND source IN (SELECT DISTINCT engine FROM search_queries)
  GROUP BY source, landing
)
SELECT
  COALESCE(sc.engine, logged.engine) AS engine,
  COALESCE(sc.page, logged.page) AS page,
  COALESCE(sc.clicks, 0) AS sc_clicks,
  COALESCE(logged.visits, 0) AS logged_visits,
  ROUND(CAST(COALESCE(logged.visits, 0) AS DOUBLE) / NULLIF(sc.clicks, 0), 3) AS visits_per_click
FROM sc FULL OUTER JOIN logged ON sc.engine = logged.engine AND sc.page = logged.page
ORDER BY sc_clicks DESC, logged_visits DESC, engine, page
