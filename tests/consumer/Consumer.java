// Installed-package consumer (Java): vkrt.jar from <prefix>/share/java and libvkrt_jni from
// <prefix>/lib, as an app outside the vkrt tree uses them.
import org.vkrt.Context;
import org.vkrt.Model;
import org.vkrt.SamplerParams;
import org.vkrt.Session;

public class Consumer {
    public static void main(String[] args) {
        try (Context ctx = new Context(); Model model = new Model(ctx, args[0]); Session s = new Session(model)) {
            int[] n = {0};
            String text = s.generate("Once upon a time", SamplerParams.greedy(), 16, (token, piece) -> {
                ++n[0];
                return true;
            });
            System.out.println("consumer_java: " + n[0] + " tokens:" + text);
            System.exit(n[0] > 0 ? 0 : 1);
        }
    }
}
