"""Planning: events to timed letters (the planner is pure: it never touches
Redis), the rule versions, and applying a rule change to pending letters."""
