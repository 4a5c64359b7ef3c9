SELECT to_regclass('debrief_schema') IS NOT NULL;
