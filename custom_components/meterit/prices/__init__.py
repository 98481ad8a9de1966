"""Spanish PVPC prices from ESIOS in Home Assistant: coordinator, entities, flows and actions."""
