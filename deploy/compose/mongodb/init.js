// One-shot of the compose stack (service mongodb-init), run by mongosh --nodb:
// initiates the single-node replica set rs0 once, then creates or updates each
// Ilmo service's user, ilmo_<service>, with readWrite on its own database
// ilmo_<service> and nothing else. Passwords come from the mounted secrets;
// running it again sets them anew (rotation: README.md).
const fs = require("fs");

const secret = (name) => fs.readFileSync(`/run/secrets/${name}`, "utf8").trim();
const services = ["registration", "capacity", "notification", "streaming"];

const rootPassword = encodeURIComponent(secret("mongodb-root-password"));
const url =
  `mongodb://root:${rootPassword}@mongodb:27017/admin` +
  "?tls=true&tlsCAFile=/etc/ilmo/ca.pem&directConnection=true";

// mongod may still be restarting after the image's first-start setup.
function connectWithin(seconds) {
  for (let waited = 0; ; waited += 1) {
    try {
      return connect(url);
    } catch (error) {
      if (waited >= seconds) throw error;
      sleep(1000);
    }
  }
}

const admin = connectWithin(60);

function replicaSetInitiated() {
  try {
    admin.adminCommand({ replSetGetStatus: 1 });
    return true;
  } catch (error) {
    if (error.codeName === "NotYetInitialized") return false;
    throw error;
  }
}

if (!replicaSetInitiated()) {
  admin.adminCommand({
    replSetInitiate: { _id: "rs0", members: [{ _id: 0, host: "mongodb:27017" }] },
  });
  print("replica set rs0 initiated");
}

// Users are written on the primary: wait until this member has become it.
for (let waited = 0; !admin.hello().isWritablePrimary; waited += 1) {
  if (waited >= 120) throw new Error("mongodb did not become primary within 60 s");
  sleep(500);
}

for (const service of services) {
  const name = `ilmo_${service}`;
  const database = admin.getSiblingDB(name);
  const password = secret(`mongodb-password-${service}`);
  const roles = [{ role: "readWrite", db: name }];
  if (database.getUser(name) === null) {
    database.createUser({ user: name, pwd: password, roles });
    print(`user ${name} created`);
  } else {
    database.updateUser(name, { pwd: password, roles });
    print(`user ${name} updated`);
  }
}
