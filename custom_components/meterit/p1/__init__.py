"""The HomeWizard P1 meter in Home Assistant: connection, live coordinator, history, entities, flows."""
