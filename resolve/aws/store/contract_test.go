package store_test

import (
	"testing"

	"github.com/wardsecrets/ward/resolve"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestContractSecretsManager(t *testing.T) {
	srv := emulator(t)
	resolvetest.Run(t, resolvetest.Harness{
		Store: awsstore.NewSecretsManager(newSession()),
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			srv.PutSecretString(name, string(v))
			return mustRef(t, "awssm://"+name)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "awssm://contract/missing") },
	})
}

func TestContractParameterStore(t *testing.T) {
	srv := emulator(t)
	resolvetest.Run(t, resolvetest.Harness{
		Store: awsstore.NewParameterStore(newSession()),
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			srv.PutParameter("/"+name, string(v), true)
			return mustRef(t, "ssm:///"+name)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "ssm:///contract/missing") },
	})
}
