SELECT version FROM debrief_schema;
