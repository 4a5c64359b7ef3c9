INSERT INTO debrief_schema (version) VALUES ($1);
