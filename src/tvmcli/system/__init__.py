"""The ground floor, what every room needs: folders, environment variable names, private files,
addresses, HTTP fetches, durations, running coroutines from sync code."""
