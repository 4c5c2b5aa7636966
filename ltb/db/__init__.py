"""The database: Postgres in production, SQLite in the embedded profile, same schema."""
