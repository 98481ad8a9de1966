"""History of Meterit's meters: queries (the get_history action and the HTTP view) and the hwLogger import."""
