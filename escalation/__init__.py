"""Escalation: routing urgent enriched mentions to the people who must answer them.

Rules (in the settings) pick mentions by their journey context; destinations (webhook, Slack,
Teams, Zendesk, Freshdesk) deliver one message each; storage records every delivery once.
"""
