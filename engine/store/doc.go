// Package store is the persistence layer of the psbridge engine. Everything the engine must
// remember across restarts — integration types, instances and their sealed secrets, tenants,
// client and agent mappings, computers, health history, the call log, module scripts and API
// tokens — lives in a single bbolt file so that a deployment has exactly one thing to back up
// (plus its key file) and every change is one ACID transaction.
//
// Secret values (instance [Password] parameters, the $IntegrationContext JSON and the webhook
// secret) are never stored inside the JSON records: they live in their own buckets, sealed with
// AES-256-GCM under a 32-byte key kept in a separate key file, with additional data that binds
// every sealed value to the bucket and key it was written under.
//
// A Store is safe for concurrent use by multiple goroutines.
package store
