-- engine_share: visits, not-provided share and conversions per search engine.
--
-- Purpose: how much each engine sends, and how much of it arrives without a term.
-- Parameters:
--   from   date  = 1970-01-01   first day included
--   to     date  = 9999-12-31   last day included
--   model  first|last|linear|position|time_decay = last  attribution model
-- Columns: source, medium, visits, share_of_search (of all organic and cpc visits),
--   not_provided_visits, not_provided_share, conversions
SELECT
  source,
  medium,
  SUM(visits) AS visits,
  ROUND(CAST(SUM(visits) AS DOUBLE) / NULLIF(SUM(SUM(visits)) OVER (), 0), 4) AS share_of_search,
  SUM(CASE WHEN keyword = '(not provided)' THEN visits ELSE 0 END) AS not_provided_visits,
  ROUND(CAST(SUM(CASE WHEN keyword = '(not provided)' THEN visits ELSE 0 END) AS DOUBLE)
        / NULLIF(SUM(visits), 0), 4) AS not_provided_share,
  SUM(conversions_${model:id}) AS conversions
FROM keyword_daily
WHERE medium IN ('organic', 'cpc')
  AND day BETWEEN ${from} AND ${to} AND NOT estimated
GROUP BY source, medium
ORDER BY visits DESC, source, medium
