"""The Prompts workspace: prompts, versions, connections, projects, tasks and predictions, as
Label Studio keeps them. No HTTP here: the routes of app/api call these functions."""
