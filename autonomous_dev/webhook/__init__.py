"""GitHub webhook deliveries: the port they arrive on, their signature, and what each event asks for.
The CLI wires it to the store and the daemon's wake-up; core never imports it."""
