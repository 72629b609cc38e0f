"""Journeys (营销自动化): per-member flows of waits, conditions and actions started by an event,
each measured against a control group drawn at entry."""
