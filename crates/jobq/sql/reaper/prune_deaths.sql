DELETE FROM worker_deaths WHERE at < :before;
