"""Health: component checks, the verdict, the report and its Supabase endpoint shape."""
