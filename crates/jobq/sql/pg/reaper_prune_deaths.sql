DELETE FROM worker_deaths WHERE at < $1;
