"""Campaigns (精准营销): one-off actions to a frozen audience, measured against a held-out control
group."""
