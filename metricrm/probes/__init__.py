"""Reward-hacking probes (layer 3: uses core, adapters, data and meta).

Contract for what lands here: each probe is a small deterministic, seeded function of
(prompt, response) that should not raise a good scorer's value (padding, repetition, markdown
dressing, flattery, ...). Running probes scores originals and perturbed copies through any
``Scorer`` and reports score changes and hack rates with bootstrap intervals from
:mod:`metricrm.meta`, as a tidy frame that plotting can draw.
"""
