"""The simulated inference engine: clock, policy, subsets, outcomes and the run lifecycle."""
